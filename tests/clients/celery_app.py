"""A Celery app for the integration tests: redis broker and result backend
through the dynomite node on DYNOMITE_PORT."""
import os

from celery import Celery

_url = "redis://127.0.0.1:%s/0" % os.environ["DYNOMITE_PORT"]
app = Celery("celery_app", broker=_url, backend=_url)
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x, y):
    return x + y
