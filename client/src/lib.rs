//! Sans-IO client core (tunnel state machine, backoff, outbox). Work in progress: see the SDK issue.
