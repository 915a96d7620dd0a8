// Vite bundles the stylesheet the console imports.
declare module '*.css';
