"""redis-py pub/sub through dynomite: subscribe through one node, publish
through another (another rack), RESP2 and RESP3.

Usage: pubsub_check.py SUBSCRIBE_PORT PUBLISH_PORT PROTOCOL
"""
import sys
import time

import redis

sub_port, pub_port, protocol = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


sub = redis.Redis(host="127.0.0.1", port=sub_port, protocol=protocol)
pub = redis.Redis(host="127.0.0.1", port=pub_port, protocol=protocol)
local = redis.Redis(host="127.0.0.1", port=sub_port, protocol=protocol)

p = sub.pubsub()
p.subscribe("news")
p.psubscribe("ev.*")


def next_message(deadline_s=10.0):
    end = time.time() + deadline_s
    while time.time() < end:
        m = p.get_message(timeout=0.5)
        if m is not None:
            return m
    fail("no message within %.0f s" % deadline_s)


confirmations = [next_message(), next_message()]
kinds = sorted(m["type"] for m in confirmations)
if kinds != ["psubscribe", "subscribe"]:
    fail("confirmations: %r" % confirmations)

# PUBSUB on the subscriber's node sees the subscription.
numsub = local.pubsub_numsub("news")
if numsub != [(b"news", 1)]:
    fail("PUBSUB NUMSUB news through the subscriber's node: %r" % numsub)
if local.pubsub_numpat() != 1:
    fail("PUBSUB NUMPAT: %r" % local.pubsub_numpat())

# Through the other node: the subscriber is not connected to its
# datastore, so redis counts no receiver there; the message still arrives.
n = pub.publish("news", "hello")
if n != 0:
    fail("PUBLISH through the other node counted %r local receivers" % n)
m = next_message()
if m["type"] != "message" or m["channel"] != b"news" or m["data"] != b"hello":
    fail("message: %r" % m)

pub.publish("ev.one", "patterned")
m = next_message()
if m["type"] != "pmessage" or m["pattern"] != b"ev.*" or m["data"] != b"patterned":
    fail("pmessage: %r" % m)

# Through the subscriber's own node, redis counts it.
n = local.publish("news", "again")
if n != 1:
    fail("PUBLISH through the subscriber's node counted %r" % n)
m = next_message()
if m["data"] != b"again":
    fail("second message: %r" % m)

# Many messages in a row arrive whole and in order.
for i in range(200):
    pub.publish("news", "m%d" % i)
for i in range(200):
    m = next_message()
    if m["data"] != b"m%d" % i:
        fail("message %d: %r" % (i, m))

p.unsubscribe("news")
p.punsubscribe("ev.*")
kinds = sorted(next_message()["type"] for _ in range(2))
if kinds != ["punsubscribe", "unsubscribe"]:
    fail("unsubscribe confirmations: %r" % kinds)
p.close()

# The connection pool's connection is usable for plain commands afterwards.
sub.set("after", "ok")
if sub.get("after") != b"ok":
    fail("plain command after pub/sub")

print("pubsub protocol %d: ok" % protocol)
