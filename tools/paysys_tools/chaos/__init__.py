"""The seeded fault campaign (``make chaos``, ``paysys chaos``): dev tooling, never shipped.

For each seed: fresh resources on the embedded emulator; the API and two or more workers as
real processes that reach AWS only through a fault proxy (:mod:`.faults`) which, by a plan
drawn from the seed (:mod:`.plan`), fails some calls of every AWS operation before they
commit (500, throttling), commits some and loses the reply (timeout) or resets the
connection, and delays some; clients that follow the API's retry rules (:mod:`.clients`);
a SIGKILLed and a SIGTERMed worker and a restarted API on the way (:mod:`.driver`); webhook
endpoints of some merchants on a loopback receiver that is down for two windows of the load
(:mod:`.webhooks`). Then, faults off, quiescence, every webhook delivery owed, and a checker
(:mod:`.checker`, :mod:`.velocity`, :mod:`.webhook_check`) over every answer the clients saw,
the table, an outcome subscriber queue, ``GET /stats`` and every POST the receiver got.

Deterministic for a seed: the workload (every intent: merchant, amount, currency, key, twin,
cancel, start time), the rules (velocity shards), which fault the n-th call of each AWS
operation gets, and the order and times of the process faults and of the receiver's down
windows. Not deterministic: the timing
of concurrent requests and processes, so which process makes the n-th call of an operation,
which payment a fault hits, and what retries and redeliveries follow. A replay
(``make chaos SEED=n``) repeats the fault choices; a violation it found may need a few runs
of that seed to show again.
"""
