"""LLM judges beside human voters: each finished battle judged twice, once in each order.

- ``schema``: the ``judgments`` table (its migration ``m004_judgments``) and its reads/writes;
- ``template``: the judge prompt (MT-Bench's pairwise one by default), checked and filled in;
- ``verdict``: reading ``[[A]]`` / ``[[B]]`` / ``[[C]]`` and MT-Bench's consistency rule;
- ``runner``: asking the judge, keeping every answer, recording the vote, the summary.

Kept free of imports here: ``battles.store`` imports ``schema`` as it loads.
"""
