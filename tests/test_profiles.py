"""Profiles: what each sets up, measured in the samples; the config that declares them; MQTT's words."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from test_appliance import tone_file as tone_file  # the fixture

from bedside.adapters.ha import CommandError, discovery_configs, parse_command, state_document
from bedside.adapters.mqtt import topics_for
from bedside.audio.engine import Engine
from bedside.audio.synth.cue import CUE_SECONDS, chime
from bedside.commands import SetProfile, SetVolume, TogglePlay
from bedside.config import ConfigError, MqttConfig, parse
from bedside.controller import SESSION_END_FADE_S, Controller
from bedside.profiles import BUILTIN_PROFILES, profiles_with
from bedside.schedule import parse_days, parse_hhmm
from bedside.scheduler import command_for
from bedside.sounds import catalog_for

RATE = 48000
BLOCK = 512


class Box:
    """The controller and engine on the sample clock, as the player drives them (sounds built in place)."""

    def __init__(self, profiles: list[dict], seed: int = 5) -> None:
        self.config = parse({"profile": profiles})
        self.catalog = catalog_for(self.config, RATE)
        self.engine = Engine(RATE, self.config.volume.scale())
        self.controller = Controller(self.engine, self.catalog, self.config, volume=50,
                                     seed=np.random.SeedSequence(seed))

    def run(self, seconds: float, *commands) -> np.ndarray:
        for command in commands:
            self.controller.submit(command)
        out = []
        for _ in range(round(seconds * RATE / BLOCK)):
            self.controller.process_pending()
            out.append(self.engine.render(BLOCK).copy())
            self.controller.after_block()
        return np.concatenate(out)


def test_builtins_cover_each_use_and_a_profile_of_the_same_name_replaces_one():
    names = [p.name for p in BUILTIN_PROFILES]
    assert names == ["sleep", "unwind", "focus", "nap"]
    config = parse({"profile": [{"name": "focus", "sound": "brown", "session_min": 25},
                                {"name": "reading", "sound": "fan", "volume": 20}]})
    profiles = profiles_with(config.profiles)
    assert list(profiles) == ["sleep", "unwind", "focus", "nap", "reading"]
    assert profiles["focus"].sound == "brown" and profiles["focus"].session_min == 25
    catalog = catalog_for(parse({}), RATE)
    for profile in BUILTIN_PROFILES:  # every built-in plays a sound the box has
        assert profile.sound in catalog


@pytest.mark.parametrize(("entry", "key", "words"), [
    ({"name": "x", "tempo": 3}, "profile[0].tempo", "unknown key"),
    ({"sound": "rain"}, "profile[0].name", "is required"),
    ({"name": "Has Space"}, "profile[0].name", "a-z"),
    ({"name": "n", "volume": 101}, "profile[0].volume", "between 1 and 100"),
    ({"name": "n", "session_min": 1e308}, "profile[0].session_min", "between"),
    ({"name": "n", "session_min": 5, "wake_after_min": 5}, "profile[0].wake_after_min", "not both"),
    ({"name": "n", "timer_min": 30, "session_min": 5}, "profile[0].timer_min", "ends by itself"),
    ({"name": "n", "darken": "yes"}, "profile[0].darken", "true or false"),
    ({"name": "n\0"}, "profile[0].name", "NUL"),
])
def test_a_bad_profile_names_its_key(entry, key, words):
    with pytest.raises(ConfigError, match=words) as error:
        parse({"profile": [entry]})
    assert error.value.key == key


def test_a_profile_of_an_unknown_sound_or_a_schedule_of_an_unknown_profile_is_refused():
    with pytest.raises(ConfigError) as error:
        catalog_for(parse({"profile": [{"name": "n", "sound": "whale"}]}), RATE)
    assert error.value.key == "profile[0].sound"
    with pytest.raises(ConfigError, match="no profile 'siesta'") as error:
        parse({"schedule": [{"action": "profile", "days": "daily", "at": "13:00", "profile": "siesta"}]})
    assert error.value.key == "schedule[0].profile"


def test_a_schedule_entry_starts_a_profile():
    config = parse({"schedule": [{"action": "profile", "days": "weekdays", "at": "14:00", "profile": "nap"}]})
    entry = config.schedule[0]
    assert entry.days == parse_days("weekdays") and entry.at == parse_hhmm("14:00")
    from datetime import timedelta

    from bedside.schedule import Event
    event = Event(None, entry, None)  # type: ignore[arg-type]
    assert command_for(event, timedelta(0)) == SetProfile("nap")
    assert entry.describe() == "profile nap"


def test_a_focus_session_chimes_on_its_very_frame_then_fades_out():
    """Against the same profile without a session (same seed): not one sample differs before the
    session's last frame; from it on, the difference is the chime, exactly; then the sound fades."""
    session_s = (4 * RATE + 10) / RATE  # mid-block: the fade starts with the next block, the chime before it
    plain = Box([{"name": "work", "sound": "pink"}])
    timed = Box([{"name": "work", "sound": "pink", "session_min": session_s / 60}])
    a = plain.run(session_s + 8, SetProfile("work"))
    b = timed.run(session_s + 8, SetProfile("work"))
    end = round(session_s * RATE)
    assert timed.controller.state.profile == "" and not timed.controller.state.playing  # over
    assert plain.controller.state.profile == "work" and plain.controller.state.playing
    assert np.array_equal(a[:end], b[:end])
    assert np.flatnonzero(np.any(a != b, axis=1))[0] == end + 1  # the chime's own first sample is 0
    # Before the stop's fade (within the block after the session's end) the difference is the chime
    # at the volume's gain: the same shape, sample for sample.
    fade_from = -(-end // BLOCK) * BLOCK
    bell = chime(RATE)[: fade_from - end, 0]
    heard = (b - a)[end:fade_from, 0]
    gain = np.dot(heard, bell) / np.dot(bell, bell)
    assert gain > 0 and np.max(np.abs(heard - gain * bell)) < 1e-6  # from the session's frame, not a block later
    # The chime stands out of the noise: a 523 Hz tone far above the noise's own level there.
    window = b[end:end + RATE // 2, 0]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    freqs = np.fft.rfftfreq(len(window), 1 / RATE)
    tone = spectrum[np.abs(freqs - 523.25) < 4].max()
    around = np.median(spectrum[(freqs > 300) & (freqs < 800)])
    assert tone > 20 * around
    # Then the sound fades out (over SESSION_END_FADE_S, linear in dB), never a stop you notice.
    level = [np.sqrt(np.mean(b[i:i + RATE // 4] ** 2)) for i in range(end + RATE * 6, len(b) - RATE // 4, RATE)]
    assert all(x > y for x, y in itertools.pairwise(level))
    assert SESSION_END_FADE_S >= 20


def test_a_chime_starts_and_ends_at_zero_and_never_steps():
    bell = chime(RATE)
    assert len(bell) == CUE_SECONDS * RATE and bell[0, 0] == 0.0 and abs(bell[-1, 0]) < 1e-9
    assert np.max(np.abs(np.diff(bell[: RATE // 100, 0]))) < 0.02  # a 12 ms attack: no click


def test_a_stop_during_a_session_forgets_its_chime():
    box = Box([{"name": "work", "sound": "pink", "session_min": 0.05}])
    box.run(1.0, SetProfile("work"))
    x = box.run(5.0, TogglePlay())
    assert not box.controller.state.playing
    assert np.all(x[RATE * 3:] == 0)  # no chime out of silence two seconds later


def test_a_nap_ends_rising_linear_in_db_from_silence():
    """The nap's sound plays; at its end the wake-up sound rises from the volume floor to the
    volume, a straight line in dB (measured against the same source at a steady gain)."""
    nap_s, rise_s = 3.0, 6.0
    box = Box([{"name": "siesta", "sound": "brown", "wake_after_min": nap_s / 60, "rise_min": rise_s / 60,
                "volume": 40}], seed=9)
    x = box.run(nap_s + rise_s + 2.0, SetProfile("siesta"))
    state = box.controller.state
    assert state.waking and state.sound == "birds" and state.profile == "siesta"
    # birds is the second source the controller built: the same seed gives the same samples.
    seeds = np.random.SeedSequence(9).spawn(2)
    reference = box.catalog["birds"].make(RATE, seeds[1])
    begin = (round(nap_s * RATE) // BLOCK + 1) * BLOCK  # the block after the nap's end
    ref = np.concatenate([reference.render(BLOCK).copy() for _ in range((len(x) - begin) // BLOCK)])
    scale = box.config.volume.scale()
    # After brown's crossfade out (2 s), what plays is birds alone at the rise's gain.
    t = np.arange(RATE * 2 + RATE // 10, rise_s * RATE - RATE // 10, RATE // 10).astype(int)
    gain_db = np.array([10 * np.log10(np.sum(x[begin + i:begin + i + BLOCK] ** 2) / np.sum(ref[i:i + BLOCK] ** 2))
                        for i in t])
    slope, offset = np.polyfit(t / RATE, gain_db, 1)
    assert np.max(np.abs(gain_db - (slope * t / RATE + offset))) < 0.1
    expected = (scale.to_db(40) - scale.floor_db) / rise_s
    assert slope == pytest.approx(expected, rel=0.02)


def test_a_profile_sets_its_sound_volume_timer_and_guide_and_says_so():
    box = Box([])
    box.run(0.5, SetVolume(80))
    box.run(1.0, SetProfile("unwind"))
    state = box.controller.state
    assert state.playing and state.sound == "gentle-surf" and state.profile == "unwind" and state.breathing
    assert state.timer_min == 40 and state.timer_end is not None
    assert box.engine.breathing is not None
    box.run(0.5, SetProfile("focus"))  # the next profile takes over: no timer, no guide
    state = box.controller.state
    assert state.sound == "pink" and state.profile == "focus" and not state.breathing
    assert state.timer_min == 0 and state.timer_end is None and state.session_end is not None
    with pytest.raises(KeyError):
        box.controller.apply(SetProfile("karaoke"))


def test_mqtt_takes_a_profile_and_home_assistant_gets_a_select():
    profiles = ["sleep", "unwind", "focus", "nap"]
    batch = parse_command(b'{"profile": "focus", "volume": 20}', ["brown"], profiles)
    assert batch.commands[0] == SetProfile("focus")  # first: the volume in the same message wins
    with pytest.raises(CommandError, match="unknown profile"):
        parse_command(b'{"profile": "\\u0000"}', ["brown"], profiles)
    with pytest.raises(CommandError, match="unknown profile"):
        parse_command(b'{"profile": ["focus"]}', ["brown"], profiles)
    topics = topics_for(MqttConfig(name="kid"))
    configs = dict(discovery_configs(topics, ["brown"], [30.0], "1", 120.0, profiles=profiles))
    select = configs[topics.discovery("select", "profile")]
    assert select["options"] == profiles and select["command_topic"] == topics.set
    from bedside.commands import State
    assert json.loads(json.dumps(state_document(State(profile="nap"), 0.0, ["brown"])))["profile"] == "nap"


def test_holding_the_knob_steps_through_the_profiles_and_snoozes_a_wake_up(tmp_path, tone_file):
    """The encoder's push switch held: the next profile each time, in the config's order (a short
    press is still play/stop); during a wake-up the same hold snoozes it."""
    from test_appliance import Appliance

    from bedside.commands import Wake

    knob_button = 13
    with Appliance(tmp_path, tone_file, "[controls]\nlong_press_s = 0.5\n") as box:
        box.press(knob_button, hold=0.8)
        _, state, _ = box.wait_for("profile")
        assert state.profile == "sleep" and state.playing and state.sound == "rain" and state.timer_min == 60
        box.events.clear()
        box.press(knob_button, hold=0.8)
        _, state, _ = box.wait_for("profile")
        assert state.profile == "unwind" and state.breathing
        box.controller.submit(Wake(None, 40, rise_s=30))
        box.wait_for("waking")
        box.press(knob_button, hold=0.8)
        _, state, _ = box.wait_for("snoozed")
        assert state.snoozed and not state.playing


def test_tonight_s_picture_draws_a_nap_s_rise_and_a_scheduled_focus_session():
    from bedside.plan import Now, planned_levels
    from bedside.schedule import Event

    scale = parse({}).volume.scale()
    nap = planned_levels(Now(scale.to_db(25), 25, nap=(1200.0, 180.0, 40)), [], scale, 3.0, 10.0)
    assert (1200.0, round(scale.to_db(25), 2)) in nap and (1200.0, round(scale.floor_db, 2)) in nap
    assert (1380.0, round(scale.to_db(40), 2)) in nap  # rising from the floor to its volume over 3 min
    config = parse({"schedule": [{"action": "profile", "days": "daily", "at": "14:00", "profile": "focus"}]})
    event = Event(None, config.schedule[0], None)  # type: ignore[arg-type]
    plan = planned_levels(Now(float("-inf"), 30), [(600.0, event)], scale, 3.0, 10.0,
                          profiles=profiles_with(config.profiles))
    assert (603.0, round(scale.to_db(30), 2)) in plan  # faded in at the volume as it is
    chime = 600.0 + 50 * 60
    assert (chime, round(scale.to_db(30), 2)) in plan and (chime + 30.0, -100.0) in plan


def test_bedside_profiles_lists_them_and_the_status_line_names_the_one_running(tmp_path, capsys):
    from bedside.cli import main
    from bedside.commands import State
    from bedside.view import status_line

    config = tmp_path / "bedside.toml"
    config.write_text('[[profile]]\nname = "reading"\nsound = "fan"\nvolume = 25\ntimer_min = 60\n')
    assert main(["--config", str(config), "profiles"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if not line.startswith(" ")] == ["sleep", "unwind", "focus", "nap",
                                                                            "reading"]
    assert "reading  fan, volume 25, sleep timer 60 min" in out
    assert status_line(State(playing=True, sound="pink", volume=30, profile="focus")) == \
        "playing pink (focus) at volume 30"


def test_a_sleep_timer_or_a_fade_out_that_ends_the_sound_ends_the_session_too():
    """A focus session stopped by Home Assistant's "fade out now": its chime and its end do not
    come back to stop the next sound played later."""
    from bedside.commands import FadeOut, Play

    box = Box([{"name": "work", "sound": "pink", "session_min": 0.2}])
    box.run(1.0, SetProfile("work"))
    box.run(3.0, FadeOut(1.0))
    state = box.controller.state
    assert not state.playing and state.profile == "" and state.session_end is None
    x = box.run(20.0, Play("brown"))  # past the old session's end (12 s)
    assert box.controller.state.playing and box.controller.state.sound == "brown"
    assert np.all(np.any(x[RATE * 4:] != 0, axis=1))  # plays on: no stop, no chime out of the past
