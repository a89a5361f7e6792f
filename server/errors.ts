/**
 * The base of firmdrop's refusals: an Error with a machine-readable `code` (the rule broken) and a one-line
 * `message` for the operator. Nothing was changed when one is thrown.
 */
export class CodedError<C extends string> extends Error {
  readonly code: C;
  /** @param code the rule broken; @param message one line naming the file or program and the rule. */
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}
