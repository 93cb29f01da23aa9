"""The emulator: real-socket drivers around the same pipeline and worker protocol.

* `switchsim.emu.datagram_switch`: the switch without sockets (registration
  table, drops by reason, `switchsim.pipeline.Pipeline`, replies).
* `switchsim.emu.switch_server`: that switch on a UDP socket on loopback, in a
  thread or its own process.
* `switchsim.emu.pcap`: libpcap files of the traffic the switch sees.
* `switchsim.emu.supervisor`: the supervisor every multi-process command runs
  its children under (deaths noticed and named, SIGINT/SIGTERM turned into one
  orderly stop, children stopped together, nothing left behind).
* `switchsim.emu.preload`: what the forkserver loads before forking workers.
* `switchsim.emu.run`: `emulate()`, the switch plus N worker processes
  (`workers.client`) with an exact-sum check, and the ``switchsim emulate``
  subcommand's parser.
"""
