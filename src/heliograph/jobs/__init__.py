"""The durable background-job queue (queue.py) and the bounded worker pool that runs it (pool.py)."""

from __future__ import annotations

from heliograph.jobs.pool import Handler, WorkerPool
from heliograph.jobs.queue import FailedJob, Job, JobError, JobQueue, NewJob, enqueue

__all__ = ["FailedJob", "Handler", "Job", "JobError", "JobQueue", "NewJob", "WorkerPool", "enqueue"]
