// What went wrong with a chat, as a sentence with the next step. The API's problems are
// switched on by their type (docs/api.md "AI gateway"), never on their detail.

export const PROVIDERS = {
  openai: "OpenAI", anthropic: "Anthropic", google: "Google", mistral: "Mistral",
  groq: "Groq", openrouter: "OpenRouter", deepseek: "DeepSeek", xai: "xAI",
};

const CATEGORIES = {
  csam: "sexual content involving minors",
  malware: "malware",
  surveillance: "covert surveillance",
  weapons: "weapons",
  drugs: "illegal drugs",
};

export function categoryName(category) {
  return CATEGORIES[category] || category || "content the policy forbids";
}

export function providerName(provider) {
  return PROVIDERS[provider] || provider;
}

function slug(problem) {
  return String((problem && problem.type) || "").split("/").pop();
}

function wait(problem, fallback = 30) {
  const seconds = Number(problem && problem.retry_after);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : fallback;
}

// `blocked` {category} in a stream: the reply is withdrawn.
export function blockedSentence(category) {
  return `This answer was blocked and removed: it fell under the Acceptable Use Policy `
    + `(${categoryName(category)}). Ask for something else.`;
}

// A problem document (from an ApiError, or a stream's `error` event) as a sentence.
export function problemSentence(status, problem, { provider, model }) {
  const who = providerName(provider);
  switch (slug(problem)) {
    case "content-blocked":
      return problem.stage === "output"
        ? blockedSentence(problem.category)
        : `Your message was not sent: it falls under the Acceptable Use Policy `
          + `(${categoryName(problem.category)}). Nothing was charged; ask for something else.`;
    case "ai-key-rejected":
      return `${who} did not accept your key. Check it with ${who}, then replace it under Keys.`;
    case "ai-key-unreadable":
      return `Your stored ${who} key can no longer be used. Save it again under Keys.`;
    case "ai-provider-rate-limited":
      return `${who} is limiting requests made with your key. Try again in ${wait(problem)} seconds.`;
    case "rate-limited":
      return `Too many answers are being written for you at once. Wait for one to finish, `
        + `or try again in ${wait(problem, 5)} seconds.`;
    case "ai-provider-timeout":
      return `${who} took too long to answer. Try again, or ask for something shorter.`;
    case "ai-provider-unavailable":
      return `${who} failed to answer; OffCoder charged nothing. Try again in a minute.`;
    case "ai-model-not-found":
      return `${who} has no model called "${model}". Check the model name and try again.`;
    case "safety-check-unavailable":
      return `The safety check is not answering, so nothing was sent. Try again in ${wait(problem)} seconds.`;
    case "payload-too-large":
      return "This conversation is too long to send. Start a new chat.";
    default:
      break;
  }
  if (status === 422 && /key is stored/.test((problem && problem.detail) || "")) {
    return noKeySentence(provider);
  }
  if (status === 401) {
    return "Your session has ended. Sign in again, then ask again.";
  }
  const detail = problem && problem.detail;
  return detail
    ? `The assistant could not answer: ${detail}`
    : `The assistant could not answer (the server said ${status}). Try again in a minute.`;
}

export function noKeySentence(provider) {
  const who = providerName(provider);
  return `You have no ${who} key stored. Add yours under Keys, then ask again.`;
}

// Anything thrown while asking: an ApiError from lib/api.js, or fetch's own failure.
export function failureSentence(error, chat) {
  if (error && error.name === "AbortError") { return "Stopped."; }
  if (error && typeof error.status === "number") {
    return problemSentence(error.status, error.problem, chat);
  }
  return "The server could not be reached. Check your connection, then try again.";
}
