"""One module per chapter notebook, named after it: what that chapter computes, plots and says.
Chapters build on the toolkit and the engine."""
