"""Timelines: window ownership, speech regions, merging, smoothing and the summary."""
from __future__ import annotations

import numpy as np
import pytest

from sertk.infer.timeline import (Segment, TimelineOptions, Window, build_timeline,
                                  format_summary, summarize)
from sertk.vad import NO_SPEECH

A, B = np.array([0.9, 0.1]), np.array([0.2, 0.8])


def windows(labels: str, segment: float = 2.0, hop: float = 2.0) -> list[Window]:
    """One window per letter ('a' or 'b'), ``segment`` long every ``hop`` seconds."""
    probs = {"a": A, "b": B}
    return [Window(i * hop, i * hop + segment, c, probs[c]) for i, c in enumerate(labels)]


def spans(segments: list[Segment]) -> list[tuple[float, float, str]]:
    return [(round(s.start, 6), round(s.end, 6), s.label) for s in segments]


def test_consecutive_windows_with_one_label_merge():
    got = build_timeline(windows("aabba"), duration=10.0)
    assert spans(got) == [(0, 4, "a"), (4, 8, "b"), (8, 10, "a")]
    np.testing.assert_allclose(got[1].probabilities, B)


def test_overlapping_windows_meet_halfway_between_centres():
    # 2 s windows every 0.5 s: centres 1.0, 1.5, 2.0, 2.5 -> boundaries 1.25, 1.75, 2.25
    got = build_timeline(windows("aabb", segment=2.0, hop=0.5), duration=3.5)
    assert spans(got) == [(0, 1.75, "a"), (1.75, 3.5, "b")]


def test_merged_probabilities_are_weighted_by_owned_time():
    ws = [Window(0.0, 1.0, "a", np.array([1.0, 0.0])), Window(1.0, 4.0, "a", np.array([0.6, 0.4]))]
    (segment,) = build_timeline(ws, duration=4.0)
    np.testing.assert_allclose(segment.probabilities, [(1.0 + 3 * 0.6) / 4, 3 * 0.4 / 4])


def test_time_outside_speech_is_no_speech_at_the_region_edges():
    got = build_timeline(windows("aaaaa"), duration=10.0, regions=[(0.3, 3.1), (6.2, 9.0)])
    assert spans(got) == [(0, 0.3, NO_SPEECH), (0.3, 3.1, "a"), (3.1, 6.2, NO_SPEECH),
                          (6.2, 9.0, "a"), (9.0, 10.0, NO_SPEECH)]
    assert got[0].probabilities is None and got[2].probabilities is None


def test_no_regions_at_all_is_one_no_speech_segment():
    assert spans(build_timeline(windows("ab"), duration=4.0, regions=[])) == [(0, 4, NO_SPEECH)]


def test_no_windows_is_no_speech():
    assert spans(build_timeline([], duration=1.5)) == [(0, 1.5, NO_SPEECH)]


def test_a_dropped_short_tail_belongs_to_the_last_window():
    assert spans(build_timeline(windows("ab"), duration=4.3)) == [(0, 2, "a"), (2, 4.3, "b")]


def test_gaps_between_windows_are_left_out():
    got = build_timeline(windows("aa", segment=1.0, hop=3.0), duration=4.0)
    assert spans(got) == [(0, 1, "a"), (3, 4, "a")]


def test_mode_filter_removes_a_lone_window():
    assert spans(build_timeline(windows("aabaa"), 10.0)) != [(0, 10, "a")]
    got = build_timeline(windows("aabaa"), 10.0, options=TimelineOptions(smooth=3))
    assert spans(got) == [(0, 10, "a")]


def test_min_duration_absorbs_short_emotion_segments_but_not_no_speech():
    ws = windows("aaba", segment=1.0, hop=1.0)
    assert spans(build_timeline(ws, 4.0, options=TimelineOptions(min_duration=1.5))) == [
        (0, 4, "a")]
    got = build_timeline(windows("aaaa", segment=1.0, hop=1.0), 4.0,
                         regions=[(0.0, 1.5), (1.8, 4.0)], options=TimelineOptions(min_duration=1.0))
    assert spans(got) == [(0, 1.5, "a"), (1.5, 1.8, NO_SPEECH), (1.8, 4, "a")]


@pytest.mark.parametrize("options", [dict(smooth=2), dict(smooth=0), dict(min_duration=-1.0),
                                     dict(min_duration=float("nan"))])
def test_options_are_checked(options):
    with pytest.raises(ValueError):
        TimelineOptions(**options)


def test_summary_shares_and_dominant_label():
    segments = [Segment(0, 1, NO_SPEECH, None), Segment(1, 4, "a", A), Segment(4, 9, "b", B),
                Segment(9, 10, "a", A)]
    summary = summarize(segments)
    assert summary.shares == pytest.approx({"b": 0.5, "a": 0.4, NO_SPEECH: 0.1})
    assert summary.dominant == "b"
    assert format_summary(summary) == "b 50 %, a 40 %, no-speech 10 %"


def test_summary_of_silence_is_no_speech():
    summary = summarize([Segment(0, 3, NO_SPEECH, None)])
    assert summary.dominant == NO_SPEECH and summary.shares == {NO_SPEECH: 1.0}
    # mostly silence with a little speech: the emotion is still the dominant label
    assert summarize([Segment(0, 9, NO_SPEECH, None), Segment(9, 10, "a", A)]).dominant == "a"


def test_timeline_plot_is_a_png_with_bands_and_curves(tmp_path):
    from matplotlib.image import imread

    from sertk.infer.timeline_plot import plot_timeline

    ws = windows("aabba")
    segments = build_timeline(ws, 10.0, regions=[(0.5, 7.0)])
    path = plot_timeline(segments, ws, ["a", "b"], tmp_path / "sub" / "timeline.png")
    image = imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 200
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not a blank canvas
    assert [p.name for p in path.parent.iterdir()] == ["timeline.png"]  # no temporary left
