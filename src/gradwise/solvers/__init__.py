"""`gradwise.solvers`: a playground that draws how the solvers move on the lecture's landscapes.

``playground(["GD", "SGD+Momentum", "Adam"], landscape="saddle")`` runs gradwise's optimizers
from the same start on a 2-D loss surface (an ill-conditioned quadratic, a saddle point, local
minima, a bumpy valley, Rosenbrock), saves their paths on a contour plot, and returns a table
of steps-to-tolerance and final loss per solver. The command line is ``gradwise solvers``.
"""
from gradwise.solvers.landscapes import LANDSCAPES, Landscape, get_landscape
from gradwise.solvers.playground import SOLVERS, playground, run_solver

__all__ = ["LANDSCAPES", "Landscape", "SOLVERS", "get_landscape", "playground", "run_solver"]
