"""PDE problems (finite-difference discretisations) and linear solvers."""
