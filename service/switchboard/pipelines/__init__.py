"""Multi-step pipelines: run in-process, or as durable jobs on Celery with Redis."""
