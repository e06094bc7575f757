// The encoder diagram as data: the registry's steps (meta.steps) as rows of boxes, in data-flow order (pure; the DOM
// is in stages.ts). Nothing about stages is known here: Python's registry (stages.py STEPS, SECTIONS) says it all.

import type { StageInfo, StepInfo } from "./types";

export interface DiagramRow {
  title: string;
  section: string;
  /** Activations of this step, side by side (e.g. Q, K, V). */
  stages: string[];
  /** Parameters feeding this step (weights, biases, tables). */
  params: string[];
}

/** Rows of the diagram: each step with the stages this model has, activations apart from parameters (kind weight). */
export function diagramRows(steps: readonly StepInfo[], stages: readonly StageInfo[]): DiagramRow[] {
  const kind = new Map(stages.map((s) => [s.name, s.kind]));
  return steps
    .map((step) => {
      const present = step.stages.filter((n) => kind.has(n));
      return {
        title: step.title,
        section: step.section,
        stages: present.filter((n) => kind.get(n) !== "weight"),
        params: present.filter((n) => kind.get(n) === "weight"),
      };
    })
    .filter((row) => row.stages.length + row.params.length > 0);
}
