// The editor pane (to be built).
