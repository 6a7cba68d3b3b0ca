/** Placeholder: being ported (issue 11). @module */
export {}
