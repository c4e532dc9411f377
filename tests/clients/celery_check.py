"""Starts a Celery worker (--pool=solo) on celery_app, runs add.delay(2, 3)
and waits for its result through the result backend.

Usage: DYNOMITE_PORT=PORT [DYNOMITE_WORKER_PORT=PORT] celery_check.py

The worker connects to DYNOMITE_WORKER_PORT when it is given (another node
of the cluster), else to DYNOMITE_PORT like the caller.
"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from celery_app import add  # noqa: E402

worker_env = dict(os.environ)
if os.environ.get("DYNOMITE_WORKER_PORT"):
    worker_env["DYNOMITE_PORT"] = os.environ["DYNOMITE_WORKER_PORT"]
worker = subprocess.Popen(
    [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo",
     "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
    cwd=here,
    env=worker_env,
)
try:
    async_result = add.delay(2, 3)
    result = async_result.get(timeout=30)
    if result != 5:
        print("FAIL: add(2, 3) gave %r" % result)
        sys.exit(1)
    print("task-id: %s" % async_result.id)
    print("celery: ok")
finally:
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
