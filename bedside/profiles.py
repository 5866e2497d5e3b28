"""Profiles: one choice sets up the whole use of the box — falling asleep, unwinding, focusing, a nap.

A profile is a preset of what the controls set one by one (a sound, a volume, a sleep timer and its
fade), plus what only a profile arranges: a breathing guide at the start, a focus session that ends
with a soft chime, a nap that ends with a wake-up rise. The built-ins work out of the box; a
``[[profile]]`` entry of the same name replaces one, any other name adds one. Keys are declared once
here (:func:`bedside.declare.setting`): validation and the example config come from them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from bedside.declare import Between, setting

#: A profile's name: what Home Assistant's select, the page and MQTT show and send.
NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
MAX_PROFILES = 16
#: After a focus session's chime the sound fades out over this long.
SESSION_END_FADE_S = 30.0


@dataclass(frozen=True)
class Profile:
    """One ``[[profile]]`` entry (or a built-in), validated."""

    name: str
    description: str = setting("", "What it is for, in a few words (the page shows it).")
    sound: str = setting("", "The sound or mix it plays (a built-in or a [[sounds]] name); empty: the one last "
                             "played.")
    volume: int | None = setting(None, "1–100; not given: the volume stays as it is.", Between(1, 100), kind=int)
    timer_min: float = setting(0.0, "A sleep timer in minutes, 0–1440 (0 = none: a timer already set is cleared).",
                               Between(0.0, 1440.0))
    fade_min: float | None = setting(None, "The sleep timer's fade in minutes, 0.1–240 (not given: [timer] "
                                           "fade_min).", Between(0.1, 240.0), kind=float)
    darken: bool | None = setting(None, "Darken the sound as the timer fades it (not given: [timer] darken).",
                                  kind=bool)
    breathe_min: float = setting(0.0, "A breathing guide from the start, its pace slowing from 11 to 6 breaths a "
                                      "minute over this many minutes, 0–120 (0 = none).", Between(0.0, 120.0))
    session_min: float = setting(0.0, "A focus session in minutes, 0–600 (0 = none): at its end a soft chime, "
                                      "then the sound fades out over 30 s.", Between(0.0, 600.0))
    wake_after_min: float = setting(0.0, "A nap in minutes, 0–600 (0 = none): at its end the wake-up sound rises "
                                         "from silence to wake_volume over rise_min, and any press ends it.",
                                    Between(0.0, 600.0))
    rise_min: float = setting(3.0, "How long a nap's rise takes, 0.1–60 minutes.", Between(0.1, 60.0))
    wake_volume: int | None = setting(None, "1–100, the volume a nap rises to (not given: the profile's volume).",
                                      Between(1, 100), kind=int)


#: Built in, so that the box offers each use out of the box (a [[profile]] of the same name replaces one).
BUILTIN_PROFILES: tuple[Profile, ...] = (
    Profile("sleep", "Rain that fades out and darkens over the last 20 minutes of an hour",
            sound="rain", timer_min=60.0, fade_min=20.0, darken=True),
    Profile("unwind", "Slow your breathing with the sea for 8 minutes, then it plays on for half an hour",
            sound="gentle-surf", timer_min=40.0, fade_min=10.0, breathe_min=8.0),
    Profile("focus", "Steady pink noise for 50 minutes, ended by a soft chime", sound="pink", session_min=50.0),
    Profile("nap", "Brown noise for 20 minutes, then birds rise over 3 minutes", sound="brown",
            wake_after_min=20.0, rise_min=3.0),
)

#: A profile's keys besides its name: (kind, check) as declared.
PROFILE_KEYS = {f.name: (f.metadata["kind"], f.metadata["check"]) for f in fields(Profile) if f.name != "name"}


def profiles_with(declared: tuple[Profile, ...]) -> dict[str, Profile]:
    """The built-ins, each replaced by a declared profile of its name, then the others in their order."""
    out = {profile.name: profile for profile in BUILTIN_PROFILES}
    for profile in declared:
        out[profile.name] = profile
    return out


def describe(profile: Profile) -> str:
    """What it does, in a line (``bedside profiles``, the log)."""
    parts = [profile.sound or "the last sound"]
    if profile.volume is not None:
        parts.append(f"volume {profile.volume}")
    if profile.breathe_min:
        parts.append(f"breathing guide {profile.breathe_min:g} min")
    if profile.timer_min:
        fade = f"{profile.fade_min:g}-min fade" if profile.fade_min is not None else ""
        dark = {True: "darkening", False: "not darkening", None: ""}[profile.darken]
        how = ", ".join(x for x in (fade, dark) if x)
        parts.append(f"sleep timer {profile.timer_min:g} min" + (f" ({how})" if how else ""))
    if profile.session_min:
        parts.append(f"a {profile.session_min:g}-min session ending with a chime")
    if profile.wake_after_min:
        parts.append(f"a {profile.wake_after_min:g}-min nap ending with a {profile.rise_min:g}-min rise")
    return ", ".join(parts)
