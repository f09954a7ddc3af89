"""Automatic call distribution: a pure, deterministic router (L1) and its service (L3).

The router is sans-IO: :class:`hotline.acd.router.AcdEngine` takes inputs as
method calls with ``now`` (monotonic seconds), hands back
:mod:`hotline.acd.decisions` through ``next_decision()`` and exposes its timers
as data (``get_timer()`` / ``handle_timer(now)``).  The same code routes live
calls (driven by the asyncio service) and runs the simulator on a virtual clock.

Modules
    ``model``       queue and operator configuration, outcomes, limits
    ``agent``       the operator state table (LOGGED_OUT ... WRAP_UP)
    ``decisions``   what the router hands back (commands and metric facts)
    ``router``      the engine's public face; the routing rules are documented there
    ``dispatch``    its mechanism: matching, offers, queue entry and exit, timers
    ``roster``      operators' states, queue memberships and idle indexes
    ``waiting``     one queue's waiting line (fair order, positions)
    ``strategies``  operator-selection plug-ins and their registry
    ``sla``         abandon classification, handle-time window, estimated wait
    ``status``      read-only snapshots for supervisors
    ``timers``      the timer heap
    ``erlang``      Erlang C and Erlang A staffing arithmetic
    ``simulator``   the engine on a virtual clock (``hotline simulate``)
    ``sim_input``   forecast, staffing and handle-time CSV readers
    ``sim_config``  queue configuration from YAML
    ``sim_draw``    arrivals, handle times and patience draws (or replayed calls)
    ``sim_stats``   per-interval figures (metrics.md definitions)
    ``sim_chart``   the self-contained HTML/SVG chart
"""
