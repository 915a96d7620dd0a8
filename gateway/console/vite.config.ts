import { defineConfig } from 'vite';

// The gateway serves the build at /console/ from three files with fixed names, compiled
// into its binary (gateway/src/plugins/console.rs); nothing else is emitted.
export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: false,
    assetsInlineLimit: 0,
    rollupOptions: {
      output: {
        entryFileNames: 'console.js',
        chunkFileNames: 'console-[name].js',
        assetFileNames: 'console.[ext]',
        inlineDynamicImports: true,
      },
    },
  },
});
