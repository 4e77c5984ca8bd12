"""The job kinds of experiment runs on the durable job queue (jobs/queue.py)."""

from __future__ import annotations

#: One cell of a background run; ``ref`` is the run id, ``subject`` "<experiment>/<row>/<version>".
CELL_KIND = "experiment-cell"
#: One output scored by one attached evaluator; ``ref`` is the run id (or the experiment id for a cell
#: run on its own), ``subject`` the output's request id.
SCORE_KIND = "experiment-score"
#: One dataset row of a table experiment's hypothesis (``POST /v1/experiment/hypothesis/{id}/run``);
#: ``ref`` is the hypothesis id, ``subject`` the dataset row id.
TABLE_CELL_KIND = "table-experiment-cell"
