"""Lecture mode: the scenario's beats played as a presentation.

Full screen, large fonts, only the panels the scenario shows, no controls. The beats are a
timeline: when the player reaches a beat's step, its caption shows, its ``set`` is applied (the
run is recomputed from the scenario as it was when the lecture began plus the sets of every beat
so far, applied in order through :func:`core.scenario.io.set_paths`, so going back and forth
always shows the same thing) and it pauses if the beat says so. Next (PageDown, N) plays
on to the next beat; Previous (PageUp, P) jumps back to the previous one; Esc leaves.
"""

from __future__ import annotations

from typing import Any

from lab.style import CAPTION_PT, LECTURE_MAX_PT, lecture_caption_points, lecture_points

#: the plots' point size on a 1080-line screen (smaller screens get less: :func:`lab.style.lecture_points`)
LECTURE_FONT_PT = LECTURE_MAX_PT


class Lecture:
    def __init__(self, window: Any) -> None:
        self.window = window
        self.session = window.session
        self.active = False
        self.index = -1
        self.base: Any = None  # the scenario the beats' sets apply to (core.scenario.Scenario)
        self.timeline: tuple | None = None  # the file's beats, kept while the lecture plays them
        self.points = LECTURE_FONT_PT  # the plots' point size of the lecture now shown (from its screen)
        self.session.frame_changed.connect(self._reached)

    @property
    def beats(self) -> tuple:
        if self.active and self.timeline is not None:
            return self.timeline
        return tuple(getattr(self.session.scenario, "beats", ()) or ())

    def reset(self) -> None:
        """The lecture starts over from the current scenario. Once the problem kind is no longer
        the file's (``window.stale()``) the beats describe another problem: none are played."""
        self.index = -1
        self.base = self.session.scenario
        stale = getattr(self.window, "stale", lambda: False)()
        self.timeline = () if stale else tuple(getattr(self.session.scenario, "beats", ()) or ())

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active or self.session.scenario is None:
            return
        self.active = True
        w = self.window
        self._saved = (w.controls.isVisible(), w.menuBar().isVisible())
        w.controls.hide()
        w.menuBar().hide()
        w.statusBar().hide()
        screen = w.screen()
        height = screen.geometry().height() if screen is not None else 1080  # the projector's lines
        self.points = lecture_points(height)
        w.panels.set_font_size(self.points)  # every panel's ticks, axis labels, legends, colour bar
        w.caption.set_point_size(lecture_caption_points(height), background="#fffbe6")
        w.player.set_font_size(self.points - 4)
        w.explain.set_lecture(True)  # the caption bar carries the beat
        w.showFullScreen()
        self.reset()
        self.session.set_frame(0)
        stale = getattr(w, "stale", lambda: False)()
        self.window.caption.setText(w.stale_note() if stale else self.session.scenario.title)
        if self.beats and self.beats[0].step == 0:
            self.activate(0)

    def leave(self) -> None:
        if not self.active:
            return
        self.active = False
        w = self.window
        w.controls.setVisible(self._saved[0])
        w.menuBar().setVisible(self._saved[1])
        w.statusBar().show()
        w.panels.set_font_size(None)  # pyqtgraph's defaults again: nothing carries into an export
        w.caption.set_point_size(CAPTION_PT)
        w.player.set_font_size(None)
        w.explain.set_lecture(False)
        w.panels.highlight(None)
        if self.base is not None and self.base != self.session.scenario:
            # back to the scenario as it was before the lecture's knob changes (not an edit either)
            self.session.apply(self.base, structural=True, sync=True, edit=False)
        w.showNormal()
        w._caption_for(self.session.frame)

    def activate(self, k: int) -> None:
        """Shows beat ``k``: the scenario with the sets of beats 0..k, its caption, its panel."""
        beats = self.beats
        self.index = k
        beat = beats[k]
        if self.base is not None and any(b.set for b in beats):
            # each beat's set validated together, in order, exactly as load checked them (beats
            # that only work together, such as a new optimizer list and then its second lr); a
            # beat's knob change is part of the file's story, not an unsaved edit
            self.session.set_many([b.set for b in beats[: k + 1]], base=self.base, sync=True, edit=False)
        self.window.explain.beat_shown(k)  # a predict beat asks first (lab.explain)
        self.window.caption.setText(self.window.explain.text_for(k))
        self.window.panels.highlight(beat.highlight)
        if beat.panel:
            self.window.panels.panel(beat.panel).setVisible(True)
        if beat.pause:
            self.window.player.pause()

    def next(self) -> None:
        if self.window.explain.reveal():  # a predict beat's question: this key reveals its caption
            return
        beats = self.beats
        player = self.window.player
        if self.index + 1 >= len(beats):
            player.stop_at = None
            player.play()
            return
        nxt = beats[self.index + 1]
        if self.session.frame >= nxt.step:
            self.session.set_frame(nxt.step)
            self.activate(self.index + 1)
        else:
            player.stop_at = nxt.step if nxt.pause or nxt.predict else None
            player.play()

    def previous(self) -> None:
        if not self.beats:
            self.session.set_frame(0)
            return
        k = max(self.index - 1, 0)
        self.window.player.pause()
        self.session.set_frame(self.beats[k].step)
        self.activate(k)

    def _reached(self, step: int) -> None:
        """While playing, a beat activates when the player passes its step."""
        if not self.active:
            return
        beats = self.beats
        while self.index + 1 < len(beats) and step >= beats[self.index + 1].step:
            self.activate(self.index + 1)
