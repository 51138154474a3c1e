"""The toolkit the chapters share: corpus, models, training, evaluation, tasks, statistics,
plotting, profiles. It builds on the editing engine (``tokedit_utils.toedit``) and imports no
chapter."""
