// The lab build imports stylesheets as text (see frontend/build.mjs).
declare module "*.css" {
  const text: string;
  export default text;
}
