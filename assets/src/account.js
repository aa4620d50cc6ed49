// The account pages.
import "./account/index.js";

// The page's controls have their handlers: what tests wait for before they click (a click
// before would be lost: the buttons do nothing without this script).
document.body.dataset.ready = "true";
