"""gongai engine: runs and times the approval stages of a construction project (工程建设项目审批).

Sub-packages:
- ``engine.domain``      pure domain: catalogue, working-day calendar, timing rules (no SQL, no HTTP);
- ``engine.bpmn``        loading, validating and sandboxing BPMN models; the SpiffWorkflow adapter;
- ``engine.persistence`` SQLAlchemy tables, repositories and the unit of work;
- ``engine.services``    the service layer that the CLI and the HTTP API both call.
"""

__version__ = "0.1.0"
