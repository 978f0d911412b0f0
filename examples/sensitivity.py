"""Forward mode: how a whole simulated trajectory depends on two parameters.

A damped oscillator ``x'' = -k x - c x'`` is integrated for 100 steps; the output is the
whole trajectory (100 numbers), the inputs are the two parameters ``(k, c)``. The Jacobian
has 100 rows and 2 columns, so forward mode wins: ``jacfwd`` sweeps the tape forwards once
per parameter (2 sweeps), where reverse mode (``jacobian``) replays it backwards once per
output (100 replays). ``jvp`` gives the change of the trajectory along one direction of the
parameters in a single pass, with no tape at all. Both are checked against finite
differences.

Run it with ``python examples/sensitivity.py``.
"""

import numpy as np

import tapegrad

STEPS, DT = 100, 0.1


def trajectory(params):
    """Positions of the oscillator at each step (semi-implicit Euler), from x=1, v=0."""
    k, c = params[0], params[1]
    x, v = 1.0, 0.0
    positions = []
    for _ in range(STEPS):
        v = v + DT * (-k * x - c * v)
        x = x + DT * v
        positions.append(x)
    return tapegrad.numpy.stack(positions)


def main():
    params = np.array([4.0, 0.3])
    sensitivity = tapegrad.jacfwd(trajectory)(params)
    print(f"Jacobian of the trajectory: shape {sensitivity.shape}")
    same = np.allclose(sensitivity, tapegrad.jacobian(trajectory)(params))
    print(f"jacfwd (2 forward sweeps) equals jacobian (100 reverse replays): {same}")

    eps = 1e-6
    for i, name in enumerate(["k", "c"]):
        step = np.zeros(2)
        step[i] = eps
        numeric = (trajectory(params + step) - trajectory(params - step)) / (2 * eps)
        error = np.max(np.abs(sensitivity[:, i] - numeric))
        print(f"d trajectory / d {name}: largest difference from finite differences {error:.1e}")

    direction = np.array([1.0, -0.5])
    _, change = tapegrad.jvp(trajectory, (params,), (direction,))
    print(f"jvp along (1, -0.5) equals the Jacobian times it: "
          f"{np.allclose(change, sensitivity @ direction)}")
    worst = int(np.argmax(np.abs(sensitivity[:, 0])))
    print(f"the position is most sensitive to k at step {worst} "
          f"(d x / d k = {sensitivity[worst, 0]:.3f})")


if __name__ == "__main__":
    main()
