"""Pipeline stages: each a pure core, its adapters, and a thin Faust agent."""
