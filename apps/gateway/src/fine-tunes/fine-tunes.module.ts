import { Module } from '@nestjs/common';
import { FineTunesController } from './fine-tunes.controller.js';
import { FineTunesService } from './fine-tunes.service.js';

@Module({ controllers: [FineTunesController], providers: [FineTunesService] })
export class FineTunesModule {}
