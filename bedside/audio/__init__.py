"""Everything that runs on, or feeds, the audio thread: the boundary of the house.

- ``synth/`` makes samples (pure numpy: no I/O, no clocks); ``synthesis`` keeps each playing
  source rendered ahead on its own thread (:class:`~bedside.audio.synthesis.Feed`).
- ``engine`` mixes and applies every gain per sample; its clock is the sample count. ``gain`` holds
  the ramps and the volume scale.
- ``player`` is the one loop: per period it waits for room in the output, applies the controller's
  queued commands, takes frames made ahead, applies gains, encodes and writes. It never waits on
  another thread beyond what the device still holds, never logs synchronously (the daemon's log
  handler is a queue) and never calls listeners: the controller puts immutable snapshots on a queue
  that :class:`~bedside.events.Dispatcher` hands to them on its own thread.
- ``output`` declares what the loop calls (:class:`~bedside.audio.output.Output`) and survives the
  device; ``sinks/`` are the devices (ALSA, a WAV file, nowhere); ``pcm`` encodes for all of them.

Nothing here imports an adapter (gpiozero, paho, the page) or the daemon.
"""
