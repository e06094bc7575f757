// Type declarations for non-TypeScript imports (the stylesheet esbuild bundles beside widget.js).
declare module "*.css";
