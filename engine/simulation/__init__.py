"""Simulation: drive many synthetic projects, or one exact scenario, through the service layer on a virtual clock.

Nothing here re-implements engine rules: every step is an :class:`~engine.services.approval.ApprovalService`
call by a proper :class:`~engine.domain.actors.Actor`, so the authorisation guards, payload validation,
timers and timing are exactly those of production.
"""

from engine.simulation.driver import Driver, SimulationResult, simulate
from engine.simulation.workload import Workload, WorkloadSettings

__all__ = ["Driver", "SimulationResult", "Workload", "WorkloadSettings", "simulate"]
