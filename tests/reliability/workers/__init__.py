"""Small applications the worker scenarios run as real processes (tests/reliability/test_workers.py): a WSGI app
for gunicorn, a `multiprocessing` job, a Celery app, and a plain process writing to a shared spool directory.

Each reports the spans it made (trace and span ids), so the test knows every event that must arrive."""
