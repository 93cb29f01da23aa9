"""P4 side of switchsim: generated P4 includes, the bmv2 control plane, the bmv2 runner.

* `switchsim.p4gen.render`: writes the P4 constants, the unrolled payload header
  and per-element register code from `switchsim.protocol.spec` (committed under
  ``p4/``; a test fails when they are stale).
* `switchsim.p4gen.controller`: a job's bmv2 configuration as ``simple_switch_CLI``
  commands (print or apply).
* `switchsim.p4gen.bmv2_runner`: compile with p4c, run ``simple_switch`` on veth
  pairs in a network namespace, replay the conformance vectors.
"""
