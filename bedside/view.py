"""What people are shown, as pure functions of a snapshot: systemd's status line and the page's
document. No thread, no engine, no clock of their own: the caller passes the instant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bedside.adapters.ha import state_document
from bedside.commands import State
from bedside.config import Config
from bedside.events import Snapshot
from bedside.plan import Now, planned_levels
from bedside.profiles import describe, profiles_with
from bedside.schedule import Event
from bedside.sounds import Sound

#: The page lists this many of the coming events.
PAGE_EVENTS = 6


def status_line(state: State, problem: str | None = None) -> str:
    """One line for ``systemctl status`` (and READY=1): what plays, and what is wrong."""
    underruns = f"; {state.underruns} underruns" if state.underruns else ""
    trouble = f"; {problem[:200]}" if problem else ""
    if not state.playing:
        snoozed = "; wake-up snoozed" if state.snoozed else ""
        return f"stopped{snoozed}{underruns}{trouble}"
    timer = f", timer {state.timer_min:g} min" if state.timer_end is not None else ""
    waking = ", waking up" if state.waking else ""
    profile = f" ({state.profile})" if state.profile else ""
    return f"playing {state.sound}{profile} at volume {state.volume}{waking}{timer}{underruns}{trouble}"


def page_document(snapshot: Snapshot, catalog: Mapping[str, Sound], config: Config, events: Sequence[Event],
                  now: datetime, zone: ZoneInfo, auth: bool) -> dict:
    """Everything the page shows: the state, the sounds, the coming events and the picture of the
    night. ``snapshot`` aged to the moment ``now`` stands for; ``events``: the schedule's upcoming."""
    state = snapshot.state
    scale = config.volume.scale()
    document = state_document(state, snapshot.timer_remaining_s, list(catalog))
    profiles = profiles_with(config.profiles)
    profile = profiles.get(state.profile)
    nap = None
    if snapshot.nap_remaining_s is not None and profile is not None:
        nap = (snapshot.nap_remaining_s, profile.rise_min * 60, profile.wake_volume or state.volume)
    present = Now(snapshot.level_db, state.volume, snapshot.rise_remaining_s, snapshot.sleep_fade_s,
                  session_end_s=snapshot.session_remaining_s, nap=nap)
    points = planned_levels(present, [((e.when - now).total_seconds(), e) for e in events], scale,
                            config.sound.fade_in_s, config.timer.fade_min, profiles=profiles)
    document.update({
        "sounds": [{"name": s.name, "description": s.description} for s in catalog.values()],
        "profiles": [{"name": p.name, "description": p.description or describe(p)} for p in profiles.values()],
        "presets": list(config.timer.presets_min),
        "fade_out_s": config.mqtt.fade_out_s,
        "scale": {"floor_db": scale.floor_db, "ceiling_db": scale.ceiling_db},
        "events": [{"at": e.when.isoformat(), "local": e.local(zone).strftime("%a %H:%M"),
                    "what": e.entry.describe()} for e in events[:PAGE_EVENTS]],
        "plan": {"points": points, "bands": _bands(snapshot), "now": now.isoformat(), "zone": zone.key,
                 "offset_s": now.astimezone(zone).utcoffset().total_seconds()},
        "auth": auth,
        "breath": _breath(snapshot),
    })
    return document


def _bands(snapshot: Snapshot) -> list[tuple[float, float, str]]:
    """What the picture marks as stretches of time from now: a guide, a focus session, a nap."""
    bands = []
    if snapshot.breath is not None:
        plan, into = snapshot.breath
        bands.append((0.0, round(max(0.0, plan.seconds - into), 1), "guide"))
    if snapshot.session_remaining_s is not None:
        bands.append((0.0, round(snapshot.session_remaining_s, 1), "focus"))
    if snapshot.nap_remaining_s is not None:
        bands.append((0.0, round(snapshot.nap_remaining_s, 1), "nap"))
    return bands


def _breath(snapshot: Snapshot) -> dict | None:
    """The guide as the page draws it: where it is now, and the starts of the breaths around."""
    if snapshot.breath is None:
        return None
    plan, into = snapshot.breath
    return {"at": round(into, 3), "ends": round(plan.seconds, 3), "inhale_share": plan.inhale_share,
            "starts": plan.starts_around(into)}
