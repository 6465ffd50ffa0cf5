"""Landmark smoothing per face track: a constant-velocity Kalman filter on filterpy.

One smoother follows one face track. A factory (norfair style) makes a fresh one for each new
track::

    factory = make_smoother_factory("kalman", strength=1.0)
    smoother = factory()
    out = smoother.update(points, confidence, t)   # points (128, 2) float32, t in seconds
    out.points, out.t                               # smoothed points and the time they belong to
    smoother.update(None, None, t)                  # a missed frame: predict through it

Modes:

- ``"kalman"``: causal, for live video. ``update`` returns the estimate for the frame just
  given (``out.t == t``).
- ``"fixed-lag"``: non-causal, for files. The smoother holds ``lag_frames`` updates and runs a
  Rauch-Tung-Striebel pass over them, so ``update`` returns the points of the frame given
  ``lag_frames`` updates earlier (``out.t`` is that frame's time), or ``None`` while the
  window fills. At the end of a track, ``flush()`` returns the frames still held, in order.
  A file pipeline therefore keeps ``lag_frames`` frames in hand and pairs each output with
  the held frame whose time is ``out.t``.
- ``"off"``: returns the measurement (holds the last one through missed frames).

The model: every coordinate follows a constant-velocity model, in face-size units (the tuning
holds at any resolution). Time steps come from the frames' times, so variable frame rates
and dropped frames are handled. All points go through one set of vectorised operations per
frame, with the covariance algebra of one filterpy ``KalmanFilter`` (one predict, one
update): since the points share the motion model, their covariances come from a bank of
independent 2-state blocks inside that filter, one per (confidence level, motion level),
and each point takes the gain of its block:

- confidence level: measurement variance ``noise² / confidence²`` rounded to a power of 4,
  so an uncertain or occluded point barely moves its estimate;
- motion level: a confident point whose innovation is larger than its covariance explains
  (a mouth opening, a fast turn) gets 4x (then 16x) the acceleration noise on the next step,
  so it follows with little lag while still points stay damped.

The fixed-lag pass is a Rauch-Tung-Striebel recursion whose gains come from that filter's
covariances. A measurement whose median point moves further from the prediction than
``gate`` face sizes (a scene cut, another face, a detector jump) restarts the track instead
of dragging it.

The live mode splits the rigid motion from the shape (``SmootherConfig(rigid=True)``): a
filter on the similarity transform of the whole face (its 4 parameters fitted to all points
at once, so the points' own noise averages out; its process noise rises while its innovation
is large) and the points smoothed in its frame, where only the expression moves them.
bench/jitter.py measured this against the per-point model (the live default before) and
chose it: more stillness at the same head lag on both landmark sources, the price being a
later mouth (docs/BENCHMARKS.md). The mouth's points (``SmootherConfig.expressive``) keep
more process noise than the rest of the shape, which halves that price.

The head's motion between frames can also come from the pixels
(``facestream.filters.face_flow.face_motion``, passed as ``update(..., motion=...)``, with
``SmootherConfig(flow_noise=FLOW_NOISE)``): the similarity then moves by it (a control
input of filterpy's predict) and the landmarks only correct its drift, so the head follows
the picture without lag. That is the ``"flow"`` mode (`--smooth flow`; the pipeline's
`FaceSmoothing` measures the motion for it): no head lag and a face that stays put on a
repeated frame, but the picture's own stutter stays in, so it cuts the jitter gauge of
bench/jitter.py far less than ``"kalman"``, the live default (docs/BENCHMARKS.md).
The file mode keeps the per-point model. ``SmootherConfig(order=3)`` makes every coordinate
constant-acceleration (measured: more head lag at equal stillness).
"""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Protocol

import numpy as np

from facestream.models.landmarks import GROUPS, NUM_POINTS

MODES = ("kalman", "flow", "fixed-lag", "off")


@dataclass(frozen=True)
class SmoothedPoints:
    """Smoothed landmarks of one face and the time (seconds) of the frame they belong to."""

    points: np.ndarray
    t: float


class Smoother(Protocol):
    """What the pipeline sees of a per-track smoother."""

    lag_frames: int
    uses_motion: bool  # wants the head's motion from the pixels (``update(..., motion=...)``)

    def update(
        self,
        points: np.ndarray | None,
        confidence: np.ndarray | None,
        t: float,
        motion: np.ndarray | None = None,
    ) -> SmoothedPoints | None: ...

    def flush(self) -> list[SmoothedPoints]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class SmootherConfig:
    """Tuning of the Kalman smoother. Lengths are in face sizes (RMS distance of the points
    from their centroid), times in seconds.

    Attributes:
        num_points: landmarks per face.
        strength: smoothing strength; process noises are divided by ``strength²``.
        order: states per coordinate: 2 for constant velocity (position, velocity), 3 for
            constant acceleration; the ``*_accel`` noises then drive the derivative above
            the last state (acceleration for 2, jerk for 3).
        rigid: filter the similarity transform of the face and each point in its frame
            (else each coordinate directly). The ``rigid_*``, ``adapt`` and ``shape_rate``
            settings only apply to it.
        lag_frames: 0 for causal filtering, else the fixed lag of the RTS window.
        noise: measurement standard deviation of a point with confidence 1.
        rigid_noise: standard deviation of the error that all points share (a landmark
            model's error moves the whole face together, so averaging points does not
            remove it), for each similarity parameter.
        rigid_accel: standard deviation of the rigid motion's acceleration (per second²).
        local_accel: standard deviation of the local shape's acceleration (per second²).
        gate: median innovation, in face sizes, beyond which the track restarts.
        adapt: the rigid process noise rises (up to 16x in acceleration) while the rigid
            innovation's normalised square exceeds ``adapt`` times its expected value; 0
            turns it off.
        shape_rate: rate of the running spread of each point's shape change, which
            lowers the weight of expressive points in the rigid fit.
        levels: confidence levels of the covariance bank (variance steps of 4x).
        motion_levels: motion levels of the bank (acceleration steps of 4x): a confident
            point whose innovation exceeds ``motion_gate`` (then 16x more per level) times
            its expected value takes the next level's process noise on the next step.
        motion_gate: see ``motion_levels``.
        flow_noise: standard deviation of the error of the head's motion from the pixels
            (``update(..., motion=...)``), per frame, for each similarity parameter; 0
            ignores that motion.
        expressive: indices of the points that move with speech (the mouth): they keep at
            least motion level ``expressive_level``, so they follow sooner while the rest
            of the face stays still.
        expressive_level: see ``expressive``.
    """

    num_points: int = 128
    strength: float = 1.0
    order: int = 2
    rigid: bool = False
    lag_frames: int = 0
    # Tuned with bench/jitter.py on MediaPipe trajectories of talking-head clips and on
    # synthetic faces with a known truth, balancing stillness against the mouth's lag.
    noise: float = 0.01
    rigid_noise: float = 0.03
    rigid_accel: float = 1.0
    local_accel: float = 0.5
    gate: float = 0.4
    adapt: float = 0.5
    shape_rate: float = 0.05
    levels: int = 4
    motion_levels: int = 3
    motion_gate: float = 4.0
    flow_noise: float = 0.0
    expressive: tuple[int, ...] = ()
    expressive_level: int = 1


@lru_cache(maxsize=64)
def _motion_model(
    dt: float, accels: tuple[float, ...], order: int
) -> tuple[np.ndarray, np.ndarray]:
    """F and Q for independent blocks of ``order`` states (position, velocity[, acceleration]),
    one per noise standard deviation of the highest derivative (cached: frame intervals
    repeat)."""
    from filterpy.common import Q_discrete_white_noise  # here: it pulls in scipy.stats (0.4 s)

    f = np.eye(order)
    for k in range(1, order):  # Taylor terms dt^k / k! above the diagonal
        f += np.diag(np.full(order - k, dt**k / np.prod(np.arange(1, k + 1))), k)
    q = Q_discrete_white_noise(dim=order, dt=dt, var=1.0)
    return np.kron(np.eye(len(accels)), f), np.kron(np.diag(np.square(accels)), q)


@lru_cache(maxsize=64)
def _flow_transition(
    dt: float, accels: tuple[float, ...], order: int, blocks: int, noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F, Q and B when the head's motion comes from the pixels (cached like
    ``_motion_model``): the similarity keeps its position and takes the measured step as a
    control input, with the flow's error ``noise`` as its process noise; its velocity becomes
    that step's rate; the points' bank keeps its constant-velocity model."""
    f, q = _motion_model(dt, accels, order)
    f, q = f.copy(), q.copy()
    rigid = slice(order * blocks, None)
    f[rigid, rigid] = np.kron(np.eye(4), np.diag(np.eye(order)[0]))  # keep the position only
    var = noise**2
    q[rigid, rigid] = np.kron(np.eye(4), np.diag([var, var / dt**2, *[0.0] * (order - 2)]))
    # Control: the step added to each parameter's position, its rate as the velocity.
    b = np.zeros((len(f), 4))
    b[rigid] = np.kron(np.eye(4), np.array([[1.0], [1.0 / dt], *[[0.0]] * (order - 2)]))
    return f, q, b


def _complex(p: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points as ``N`` complex numbers x + iy (a view when already float64)."""
    return np.ascontiguousarray(p, np.float64).view(np.complex128)[:, 0]


def _real(z: np.ndarray) -> np.ndarray:
    return z.view(np.float64).reshape(-1, 2)


# A similarity [[a, -b], [b, a]] u + t is the complex map (a + ib) u + (tx + ity): one complex
# multiply per point, 2-3x faster than the same algebra on (N, 2) arrays.


def _fit_similarity(
    template: np.ndarray, points: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, float]:
    """Weighted least-squares similarity ``points ≈ [[a, -b], [b, a]] template + t``.

    Returns ``(a, b, tx, ty)`` and the weighted second moment of the centred template, which
    sets the variance of ``a`` and ``b``.
    """
    u, p = _complex(template), _complex(points)
    wsum = weights.sum()
    u0, p0 = weights @ u / wsum, weights @ p / wsum
    uc = u - u0
    moment = float(weights @ (uc.real**2 + uc.imag**2))
    alpha = (weights * uc.conj()) @ (p - p0) / moment
    t = p0 - alpha * u0
    return np.array([alpha.real, alpha.imag, t.real, t.imag]), moment


def _apply_similarity(params: np.ndarray, u: np.ndarray) -> np.ndarray:
    a, b, tx, ty = params
    return _real(complex(a, b) * _complex(u) + complex(tx, ty))


def _invert_similarity(params: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b, tx, ty = params
    return _real((_complex(p) - complex(tx, ty)) / complex(a, b))


@dataclass
class _Step:
    """One filtered frame, kept for the fixed-lag backward pass."""

    t: float
    segment: int
    scale: float
    centre: np.ndarray
    local: np.ndarray  # (order, N, 2): position, velocity[, acceleration] of every point
    motion: np.ndarray  # (N,) motion level of every point for the next transition
    x: np.ndarray  # filterpy state and covariance: [level bank | rigid similarity]
    p: np.ndarray
    # Set when the next step arrives: the next step's prior state, the RTS gain
    # P F' P_prior⁻¹, and for the points their prior (F local) and each point's gain
    # ``(order, order, N, 1)``, kept for the backward passes of the next ``lag_frames``
    # outputs (each pass used to recompute them).
    x_next: np.ndarray | None = None
    gain: np.ndarray | None = None
    local_next: np.ndarray | None = None
    point_gains: np.ndarray | None = None


class KalmanSmoother:
    """Constant-velocity Kalman smoother of one face's landmarks (causal or fixed-lag).

    One filterpy ``KalmanFilter`` holds, as independent blocks, the covariance bank of the
    confidence levels (its state stays 0: only its gains are used, applied to every point's
    local state) and, with ``rigid=True``, the similarity parameters ``(a, b, tx, ty)``.

    Example:
        >>> s = KalmanSmoother(SmootherConfig(num_points=3))
        >>> pts = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
        >>> s.update(pts, np.ones(3, np.float32), 0.0).points.shape
        (3, 2)
    """

    def __init__(self, config: SmootherConfig | None = None) -> None:
        self.config = config or SmootherConfig()
        self.lag_frames = self.config.lag_frames
        self.uses_motion = self.config.rigid and self.config.flow_noise > 0
        self.resets = 0  # restarts forced by the gate, for diagnostics
        cfg = self.config
        # The bank's block m * levels + l serves points of confidence level l and motion
        # level m: measurement variance noise² 4^l, acceleration local_accel 4^m.
        self._nb = cfg.levels * cfg.motion_levels
        self._level_var = cfg.noise**2 * 4.0 ** np.arange(cfg.levels)
        self._bank_var = np.tile(self._level_var, cfg.motion_levels)
        accels = [
            cfg.local_accel * 4.0**m for m in range(cfg.motion_levels) for _ in self._level_var
        ]
        if cfg.rigid:
            accels += [cfg.rigid_accel] * 4
        # Indices of the bank's 2x2 covariance blocks and of the confident block of the same
        # motion level that each one copies after an update.
        b = np.arange(self._nb)[:, None, None]
        src = b // cfg.levels * cfg.levels
        d = cfg.order
        i, j = np.arange(d)[:, None], np.arange(d)[None, :]
        self._blocks = (d * b + i, d * b + j)
        self._sources = (d * src + i, d * src + j)
        self._accels = tuple(a / self.config.strength for a in accels)
        self._base_motion = np.zeros(cfg.num_points, np.intp)
        self._base_motion[list(cfg.expressive)] = min(cfg.expressive_level, cfg.motion_levels - 1)
        self.reset()

    def reset(self) -> None:
        """Forget the track: the next measurement starts it afresh (held frames are dropped)."""
        self._window: deque[_Step] = deque()
        self._segment = 0
        self._t: float | None = None

    def update(
        self,
        points: np.ndarray | None,
        confidence: np.ndarray | None,
        t: float,
        motion: np.ndarray | None = None,
    ) -> SmoothedPoints | None:
        """Add a frame's measurement (``None`` for a missed frame) taken at time ``t``.

        Args:
            points: ``(num_points, 2)`` landmarks in pixels, or ``None`` to predict.
            confidence: ``(num_points,)`` in [0, 1]; ``None`` means all 1.
            t: the frame's time in seconds (from its pts); must increase.
            motion: optional ``(2, 3)`` similarity (pixels) that moved the face from the
                previous update's frame to this one, measured on the pixels
                (``facestream.filters.face_flow.face_motion``); with ``rigid`` and
                ``flow_noise`` set, the head's filter moves by it instead of by its velocity.

        Returns:
            The smoothed points and their time (``lag_frames`` updates back in fixed-lag
            mode), or ``None`` when there is nothing to output yet.
        """
        if self._t is not None and t <= self._t:
            raise ValueError(f"frame times must increase, got {t} after {self._t}")
        if points is None:
            if self._t is None:
                return None
            self._predict(t, motion)
        else:
            points = np.asarray(points, np.float64)
            n = self.config.num_points
            if points.shape != (n, 2):
                raise ValueError(f"points must have shape ({n}, 2), got {points.shape}")
            conf = np.ones(n) if confidence is None else np.asarray(confidence, np.float64)
            if self._t is None:
                self._start(points, conf, t)
            else:
                self._predict(t, motion)
                if self._jumped(points):
                    self.resets += 1
                    self._window.pop()  # the prediction of the abandoned segment
                    self._segment += 1
                    self._start(points, conf, t)
                else:
                    self._correct(points, conf)
        self._t = t
        if len(self._window) <= self.lag_frames:
            return None
        out = self._smoothed_oldest()
        self._window.popleft()
        return out

    def flush(self) -> list[SmoothedPoints]:
        """Return the frames still held back (fixed-lag), oldest first, and empty the window."""
        out = []
        while self._window:
            out.append(self._smoothed_oldest())
            self._window.popleft()
        return out

    # -- the filter ------------------------------------------------------------------------

    def _levels(self, conf: np.ndarray) -> np.ndarray:
        # Variance noise²/c² rounded to the nearest power of 4: level = round(-log2(c)).
        c = np.clip(conf, 1e-6, 1.0)
        return np.clip(np.rint(-np.log2(c)), 0, self.config.levels - 1).astype(np.intp)

    def _start(self, points: np.ndarray, conf: np.ndarray, t: float) -> None:
        cfg = self.config
        levels = self._levels(conf)
        weights = 1.0 / self._level_var[levels]
        centre = weights @ points / weights.sum()
        scale = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError("landmarks must span a face (all points coincide or are not finite)")
        self._scale, self._centre = scale, centre
        # Face-size units around the first centroid: the tuning holds at any resolution.
        u = (points - centre) / scale
        self._template = u
        blocks = len(self._accels)
        pos_var = np.full(blocks, cfg.noise**2)
        vel_var = 4.0  # (face sizes per second)²: a fresh track may already be moving.
        acc_var = 400.0  # (face sizes per second²)²: a fresh track may already be turning.
        d = cfg.order
        from filterpy.kalman import KalmanFilter

        kf = KalmanFilter(dim_x=d * blocks, dim_z=blocks)
        kf.H = np.kron(np.eye(blocks), np.eye(1, d))
        variances = [pos_var, np.full(blocks, vel_var), np.full(blocks, acc_var)][:d]
        kf.P = np.diag(np.stack(variances, axis=1).ravel())
        if cfg.rigid:
            # The first shape is the reference: its similarity to itself is the identity.
            kf.x[d * self._nb] = 1.0
        self._kf = kf
        self._boost = 1.0
        self._motion = self._base_motion.copy()
        self._shape_var = np.zeros(len(points))
        self._local = np.stack([u, *[np.zeros_like(u)] * (d - 1)])
        self._push(t)

    def _predict(self, t: float, motion: np.ndarray | None = None) -> None:
        assert self._t is not None  # update() predicts only a started track
        accels = self._accels
        nb, d = self._nb, self.config.order
        if self._boost > 1:
            accels = accels[:nb] + tuple(a * self._boost for a in accels[nb:])
        dt = t - self._t
        if motion is not None and self.uses_motion:
            noise = self.config.flow_noise * self._boost
            f, q, b = _flow_transition(dt, accels, d, nb, noise)
            self._kf.predict(u=self._flow_step(motion), B=b, F=f, Q=q)
        else:
            f, q = _motion_model(dt, accels, d)
            self._kf.predict(F=f, Q=q)
        # The points' transition: the bank's first block (the same in every block).
        self._local = (f[:d, :d] @ self._local.reshape(d, -1)).reshape(self._local.shape)
        if self.lag_frames:
            # The backward gain of the last step, from filterpy's prior covariance.
            last = self._window[-1]
            last.x_next = self._kf.x.copy()
            last.gain = last.p @ f.T @ np.linalg.inv(self._kf.P_prior)
            last.local_next = self._local
            # The points' 2x2 gains: the confident block of each motion level, picked by
            # each point's motion level, laid out for the backward pass's broadcast.
            first = np.arange(self.config.motion_levels) * self.config.levels
            motion_gains = last.gain[self._blocks][first]
            last.point_gains = motion_gains[last.motion].transpose(1, 2, 0)[..., None]
        self._push(t)

    def _flow_step(self, motion: np.ndarray) -> np.ndarray:
        """The change of the similarity ``(a, b, tx, ty)`` (a column) that moves the face by
        ``motion``, the 2x3 similarity of the pixels."""
        nb, d = self._nb, self.config.order
        m = np.asarray(motion, np.float64)
        # The similarity part of the motion: a + ib (rotation and scale) and the shift.
        delta = complex(m[0, 0] + m[1, 1], m[1, 0] - m[0, 1]) / 2
        shift = complex(m[0, 2], m[1, 2])
        a, b, tx, ty = self._kf.x.reshape(-1, d)[nb:, 0]
        alpha, tau = complex(a, b), complex(tx, ty)
        # Points are scale * (alpha u + tau) + centre; moving them by (delta, shift) gives
        # alpha' = delta alpha and tau' = delta tau + (delta centre + shift - centre) / scale.
        centre = complex(*self._centre)
        moved_tau = delta * tau + (delta * centre + shift - centre) / self._scale
        return np.array([(delta - 1) * alpha, moved_tau - tau]).view(np.float64)[:, None]

    def _jumped(self, points: np.ndarray) -> bool:
        # The median ignores the few points that an occlusion or a bad peak throws away.
        predicted = self._to_pixels(self._local[0], self._kf.x)
        moved = np.sqrt(((points - predicted) ** 2).sum(axis=1))
        # The median by one partition: np.median's own checks took most of its ~20 us.
        half = len(moved) // 2
        middle = np.partition(moved, (half - 1, half))[half - 1 : half + 1]
        median = middle[1] if len(moved) % 2 else (middle[0] + middle[1]) / 2
        return float(median) > self.config.gate * self._scale

    def _correct(self, points: np.ndarray, conf: np.ndarray) -> None:
        levels = self._levels(conf)
        nb = self._nb
        u = (points - self._centre) / self._scale
        z, r = np.zeros(nb), self._bank_var
        if self.config.rigid:
            # Points that move with the expression (mouth, jaw) are trusted less for the
            # head's pose: their variance adds the spread of their recent shape changes.
            weights = 1.0 / (self._level_var[levels] + self._shape_var)
            params, moment = _fit_similarity(self._template, u, weights)
            z = np.concatenate([z, params])
            var = 1.0 / np.array([moment, moment, weights.sum(), weights.sum()])
            r = np.concatenate([r, var + self.config.rigid_noise**2])
            u = _invert_similarity(params, u)
            spread = ((u - self._template) ** 2).sum(axis=1)
            rate = self.config.shape_rate
            self._shape_var = np.where(
                levels == 0, (1 - rate) * self._shape_var + rate * spread, self._shape_var
            )
        self._kf.update(z, R=np.diag(r))
        if self.config.rigid and self.config.adapt > 0:
            y = self._kf.y[nb:, 0]
            nis = float(y @ self._kf.SI[nb:, nb:] @ y) / 4.0
            self._boost = float(
                2.0 ** np.clip(np.rint(0.5 * np.log2(max(nis / self.config.adapt, 1.0))), 0, 4)
            )
        # Bank gains: block b's (position, velocity) gain sits at rows 2b, 2b+1, column b.
        ar = np.arange(nb)
        d = self.config.order
        gains = self._kf.K[: d * nb, :nb].reshape(nb, d, nb)[ar, :, ar]
        block = self._motion * self.config.levels + levels
        # Every block starts the next frame from the covariance of a confident point of
        # its motion level: a point usually is confident, and an occasional doubtful
        # measurement must not inherit the large covariance of a point never seen well.
        self._kf.P[self._blocks] = self._kf.P[self._sources]
        innovation = u - self._local[0]
        self._local = self._local + gains[block].T[:, :, None] * innovation[None]
        # A confident point that moved more than its innovation covariance explains (the
        # mouth opening) gets more process noise on the next step.
        nis = (innovation**2).sum(axis=1) / (2.0 * self._kf.S[block, block])
        moving = np.digitize(
            nis, self.config.motion_gate * 16.0 ** np.arange(self.config.motion_levels - 1)
        )
        self._motion = np.maximum(np.where(levels == 0, moving, 0), self._base_motion)
        self._window[-1] = self._snapshot(self._window[-1].t)

    def _to_pixels(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.config.rigid:
            u = _apply_similarity(x.reshape(-1, self.config.order)[self._nb :, 0], u)
        return u * self._scale + self._centre

    def _snapshot(self, t: float) -> _Step:
        return _Step(
            t=t,
            segment=self._segment,
            scale=self._scale,
            centre=self._centre,
            local=self._local,
            motion=self._motion,
            x=self._kf.x.copy(),
            p=self._kf.P.copy(),
        )

    def _push(self, t: float) -> None:
        self._window.append(self._snapshot(t))

    # -- the fixed-lag backward pass -------------------------------------------------------

    def _smoothed_oldest(self) -> SmoothedPoints:
        """Rauch-Tung-Striebel pass from the newest step of the oldest step's segment back to
        the oldest step; the rigid state and the points share the gains of their blocks."""
        first = self._window[0]
        steps = [s for s in self._window if s.segment == first.segment]
        x, local = steps[-1].x, steps[-1].local
        for step in reversed(steps[:-1]):
            # A step that has a successor has its prior and gains.
            assert step.gain is not None and step.x_next is not None
            assert step.local_next is not None and step.point_gains is not None
            if self.config.rigid:  # the bank's own state is always 0: only the rigid part
                x = step.x + step.gain @ (x - step.x_next)
            # Every point shares the covariance of block 0; its motion level picks the
            # process noise of the transition, hence the backward gain c.
            # local[i] += sum_j c[i, j] * (local - prior)[j], as one broadcast (einsum is 3x
            # slower here).
            d = local - step.local_next
            local = step.local + (step.point_gains * d[None]).sum(axis=1)
        u = local[0]
        if self.config.rigid:
            u = _apply_similarity(x.reshape(-1, self.config.order)[self._nb :, 0], u)
        points = (u * first.scale + first.centre).astype(np.float32)
        return SmoothedPoints(points=points, t=first.t)


class PassThrough:
    """The ``"off"`` mode: the measurement itself, held through missed frames."""

    lag_frames = 0
    uses_motion = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the last measurement."""
        self._last: np.ndarray | None = None

    def update(
        self,
        points: np.ndarray | None,
        confidence: np.ndarray | None,
        t: float,
        motion: np.ndarray | None = None,
    ) -> SmoothedPoints | None:
        """Return ``points`` (or the last ones for a missed frame) at time ``t``; ``motion``
        is ignored."""
        if points is not None:
            self._last = np.asarray(points, np.float32)
        return None if self._last is None else SmoothedPoints(self._last, t)

    def flush(self) -> list[SmoothedPoints]:
        """Nothing is ever held back."""
        return []


# Fixed lag of the file mode, in frames: a few frames ahead remove most of the causal lag.
FIXED_LAG_FRAMES = 4
# Looking ahead buys stillness without lag, so the file mode smooths harder at equal strength.
FIXED_LAG_STRENGTH = 2.5
# The live mode at strength 1 spends its lag budget (one frame behind the head's motion) on
# stillness; the price is expression lag (docs/BENCHMARKS.md). Strength 0.25 is the earlier,
# more responsive tuning.
KALMAN_STRENGTH = 4.0
# The error of the head's motion from the pixels (``face_flow.face_motion``) per frame, in
# face sizes, for ``SmootherConfig(flow_noise=...)``: chosen on bench/jitter.py's tuning
# clips (0.001-0.01 measure alike: the flow is far more precise than the landmarks).
FLOW_NOISE = 0.002


def smoother_config(mode: str, strength: float = 1.0, num_points: int = 128) -> SmootherConfig:
    """The Kalman tuning of a mode (``"kalman"``, ``"flow"`` or ``"fixed-lag"``) at a
    strength."""
    if mode not in ("kalman", "flow", "fixed-lag"):
        raise ValueError(f"{mode!r} is not a Kalman smoothing mode")
    if not strength > 0:
        raise ValueError(f"smoothing strength must be positive, not {strength}")
    if mode == "fixed-lag":
        return SmootherConfig(
            num_points, strength * FIXED_LAG_STRENGTH, lag_frames=FIXED_LAG_FRAMES
        )
    # The rigid split, tuned with bench/jitter.py on the 12 tuning clips (both landmark
    # sources): the similarity filter trusts its fit more and moves more freely than the
    # class defaults, the shape in its frame is smoothed harder, except the mouth's, which
    # keeps 16x the acceleration noise (it follows about a frame sooner, for a point of
    # stillness that the smaller rigid and local noises win back). The flow mode is the same
    # filter with the head moved by the pixels' motion.
    return SmootherConfig(
        num_points,
        strength * KALMAN_STRENGTH,
        rigid=True,
        rigid_accel=1.5,
        rigid_noise=0.015,
        local_accel=0.15,
        expressive=tuple(GROUPS["mouth"].tolist()) if num_points == NUM_POINTS else (),
        expressive_level=2,
        flow_noise=FLOW_NOISE if mode == "flow" else 0.0,
    )


def make_smoother_factory(
    mode: str = "kalman", strength: float = 1.0, num_points: int = 128
) -> Callable[[], Smoother]:
    """A callable that creates one smoother per new face track.

    Args:
        mode: ``"kalman"`` (causal, live), ``"flow"`` (causal, the head moved by the
            pixels' motion: ``update(..., motion=...)``), ``"fixed-lag"`` (files) or
            ``"off"``.
        strength: smoothing strength, 1.0 by default; larger is stiller, smaller follows
            faster (process noise scales as ``1 / strength²``).
        num_points: landmarks per face.

    Example:
        >>> factory = make_smoother_factory("fixed-lag")
        >>> factory().lag_frames
        4
    """
    if mode not in MODES:
        raise ValueError(f"smoothing mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        if not strength > 0:
            raise ValueError(f"smoothing strength must be positive, not {strength}")
        return PassThrough
    return partial(KalmanSmoother, smoother_config(mode, strength, num_points))


def add_smoothing_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, default_mode: str = "kalman"
) -> None:
    """Add ``--smooth`` and ``--smooth-strength`` to an argparse parser (or argument group).

    Read them back with ``make_smoother_factory(args.smooth, args.smooth_strength)``.
    """
    parser.add_argument(
        "--smooth",
        choices=MODES,
        default=default_mode,
        help=f"landmark smoothing (default: {default_mode}; fixed-lag looks "
        f"{FIXED_LAG_FRAMES} frames ahead, for files only; flow moves the head by the "
        "pixels' motion: no lag, less steady)",
    )
    parser.add_argument(
        "--smooth-strength",
        type=float,
        default=1.0,
        metavar="S",
        help="smoothing strength: larger is stiller, smaller follows faster (default: 1.0; "
        "0.25 about halves the head's lag and thirds the mouth's in kalman mode)",
    )
