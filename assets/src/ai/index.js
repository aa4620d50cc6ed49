// The ai pane (to be built).
