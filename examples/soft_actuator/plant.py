"""A soft actuator as a mass-spring-damper with a stiffening (cubic) spring and a
saturating tendon force: the plant the example controller is trained for and tested on.

state x = [position, velocity], control u = [tendon command in -1..1], dt = 20 ms."""
import numpy as np

DT = 0.02
MASS, DAMPING, STIFFNESS, STIFFENING, GAIN = 1.0, 1.2, 4.0, 6.0, 6.0


def step(x, u):
    """One 20 ms step (semi-implicit Euler on 4 substeps)."""
    position, velocity = float(x[0]), float(x[1])
    force = GAIN * np.tanh(1.5 * float(u[0]))
    for _ in range(4):
        spring = STIFFNESS * position + STIFFENING * position ** 3
        velocity += (DT / 4) * (force - DAMPING * velocity - spring) / MASS
        position += (DT / 4) * velocity
    return np.array([position, velocity], np.float32)
