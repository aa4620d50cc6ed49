// The account pages.
import "./account/index.js";
