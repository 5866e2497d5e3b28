"""The outside world: each module here owns one library or protocol and talks to the rest only by
submitting commands (:mod:`bedside.commands`) and reading snapshots (:mod:`bedside.events`).

``controls`` (gpiozero; the pure knob and LED logic in ``panel``), ``keyboard`` (a terminal),
``mqtt`` (paho) with ``ha`` (Home Assistant as pure functions), ``web`` (the page, standard library)
with its fixed files in ``webui/``, ``notify`` (systemd's notify socket).
"""
