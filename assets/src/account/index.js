// The account pages (to be built).
