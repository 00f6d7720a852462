"""The simulation: synthetic borrowers and investors, seeded into a database, living day by day
through the platform's own services (``puhui demo``, ``puhui sim``); see docs/sim.md."""
