// The run pane (to be built).
