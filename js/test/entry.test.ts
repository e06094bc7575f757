import { describe, expect, it } from "vitest";
import * as entry from "../widget";

describe("the anywidget entry", () => {
  it("exports only `default = { initialize, render }` (a named `render` makes anywidget 0.11 log a deprecation)", () => {
    expect(Object.keys(entry)).toEqual(["default"]);
    expect(Object.keys(entry.default).sort()).toEqual(["initialize", "render"]);
  });
});
