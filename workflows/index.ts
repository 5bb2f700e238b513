export { fineTunePipeline } from './pipeline';
