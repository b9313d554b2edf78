declare module "cnnvis:layout-worker" {
  const source: string;
  export default source;
}
