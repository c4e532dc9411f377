"""RQ (2.x) through the proxy: jobs enqueued, run by a burst worker (which
registers itself, lists clients and uses transactional pipelines), and
their results read back.

Usage: python3 rq_check.py PORT
Prints "rq: all checks passed"; any failed check raises.
"""

import sys

from redis import Redis
from rq import Queue, Worker

import rq_jobs


def main():
    port = int(sys.argv[1])
    r = Redis(host="127.0.0.1", port=port)
    q = Queue("default", connection=r)
    jobs = [q.enqueue(rq_jobs.add, i, 1) for i in range(5)]
    assert q.count == 5, q.count
    w = Worker([q], connection=r)
    assert w.work(burst=True)
    assert [j.return_value() for j in jobs] == [1, 2, 3, 4, 5]
    assert all(j.get_status() == "finished" for j in jobs)
    assert q.count == 0
    print("rq: all checks passed")


if __name__ == "__main__":
    main()
